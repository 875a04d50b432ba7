'use strict';
/*
 * A CloudWatch dashboard's body as the template holds it (a string, or a Fn::Join of JSON text and
 * references), parsed with each reference written as "<Ref:Id>" or "<Id.Attr>". Shared by the
 * dashboard's construct tests and the consumer apps' checker (check-template.cjs).
 */
function parseDashboardBody(body) {
  const parts = typeof body === 'string' ? [body] : body['Fn::Join'][1];
  return JSON.parse(parts.map((p) => {
    if (typeof p === 'string') return p;
    if (p.Ref) return `<Ref:${p.Ref}>`;
    if (p['Fn::GetAtt']) return `<${p['Fn::GetAtt'].join('.')}>`;
    throw new Error(`unexpected part of the dashboard body: ${JSON.stringify(p)}`);
  }).join(''));
}

module.exports = { parseDashboardBody };
