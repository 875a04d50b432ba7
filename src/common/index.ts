export * from './common-props';
export * from './janitor';
