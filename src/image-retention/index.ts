export * from './image-retention';
export * from './retention-action';
export * from './task-definition-retention';
