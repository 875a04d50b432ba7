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
  // AmiManager `Ami`: the custom resource's properties as CloudFormation sends them (every scalar a string).
  ami: {
    instanceId: 'i-0123456789abcdef0',
    imageName: 'golden-web',
    tags: { team: 'platform' },
    shareWithAccounts: ['111122223333'],
    deprecateAfterSeconds: '7776000',
    removalPolicy: 'retain',
  },
};

module.exports = { EXPECTED };
