'use strict';
/*
 * The props every consumer app (and so every README usage example) sets, as the synthesized template
 * must show them: check-template.cjs checks the templates against these, and
 * readme-examples.test.ts checks each language's example sets exactly these values.
 */
const EXPECTED = {
  action: 'TERMINATE',
  maxAgeSeconds: '10800',
  tagSelector: { team: 'platform' },
  scheduleExpression: 'rate(30 minutes)',
  maxActionsPerRun: '50',
};

module.exports = { EXPECTED };
