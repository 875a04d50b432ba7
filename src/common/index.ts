export * from './common-props';
