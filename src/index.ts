export * from './common';
export * from './ami-manager';
export * from './fleet-janitor-dashboard';
export * from './ecs-instance-drainer';
export * from './image-retention';
export * from './instance-decommissioner';
export * from './packer-cleaner';
export * from './tag-policy-engine';
