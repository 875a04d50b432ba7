export * from './fleet-janitor-dashboard';
