export * from './common';
export * from './packer-cleaner';
