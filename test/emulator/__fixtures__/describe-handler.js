// A stand-in for a shipped bundle, for harness.test.ts: a module-scope SDK client (configured only
// by the environment, as in a real bundle), a JSON log line on stdout, and a returned summary.
'use strict';
const { EC2Client, DescribeInstancesCommand } = require('@aws-sdk/client-ec2');

const ec2 = new EC2Client({});

exports.handler = async (event, context) => {
  if (event.fail) throw new Error(`asked to fail by ${process.env.GREETING}`);
  console.log(JSON.stringify({ level: 'INFO', message: 'describing', remainingMs: context.getRemainingTimeInMillis() }));
  const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'key-name', Values: ['packer_*'] }] }));
  const ids = (out.Reservations || []).flatMap((r) => r.Instances.map((i) => i.InstanceId));
  return { greeting: process.env.GREETING, ids };
};
