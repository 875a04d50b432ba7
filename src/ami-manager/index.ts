export * from './ami-manager';
