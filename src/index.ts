export * from './common';
export * from './ami-manager';
export * from './fleet-janitor-dashboard';
export * from './instance-decommissioner';
export * from './packer-cleaner';
export * from './tag-policy-engine';
