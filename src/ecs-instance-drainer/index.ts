export * from './ecs-instance-drainer';
export * from './drain-timeout-action';
