export * from './common-props';
export * from './janitor';
export * from './janitor-base';
