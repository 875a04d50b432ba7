export * from './common';
export * from './fleet-janitor-dashboard';
export * from './packer-cleaner';
