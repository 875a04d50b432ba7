export * from './tag-policy-engine';
export * from './tag-value';
export * from './violation-action';
