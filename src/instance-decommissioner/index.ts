export * from './instance-decommissioner';
