export * from './packer-cleaner';
export * from './packer-cleaner-action';
