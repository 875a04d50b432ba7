/*
 * The EventBridge "Scheduled Event" shapes a sweep handler accepts besides its own Scheduler input,
 * shared by the event parser's unit tests, the handler tests and the fuzz test.
 */

/** The Lambda console's "Scheduled Event" test event (EventBridge (CloudWatch Events)), verbatim: it has no "version". */
export const CONSOLE_SCHEDULED_EVENT = {
  'id': 'cdc73f9d-aea9-11e3-9d5a-835b769c0d9c',
  'detail-type': 'Scheduled Event',
  'source': 'aws.events',
  'account': '123456789012',
  'time': '1970-01-01T00:00:00Z',
  'region': 'us-east-1',
  'resources': ['arn:aws:events:us-east-1:123456789012:rule/ExampleRule'],
  'detail': {},
};

/** What an EventBridge rule with a schedule expression delivers (the EventBridge documentation's example). */
export const RULE_SCHEDULED_EVENT = {
  'version': '0',
  'id': '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  'source': 'aws.events',
  'account': '123456789012',
  'time': '2015-10-08T16:53:06Z',
  'region': 'us-east-1',
  'resources': ['arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule'],
  'detail': {},
};
