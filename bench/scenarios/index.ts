/** Every construct's benchmark scenario, measured in this order. Add a construct: one file here, one line below. */
import { amiManager } from './ami-manager';
import { ecsInstanceDrainer } from './ecs-instance-drainer';
import { imageRetention } from './image-retention';
import { instanceDecommissioner } from './instance-decommissioner';
import { packerCleaner } from './packer-cleaner';
import { tagPolicyEngine } from './tag-policy-engine';
import type { BenchScenario } from '../scenario';

export const SCENARIOS: readonly BenchScenario[] = [
  packerCleaner,
  amiManager,
  tagPolicyEngine,
  instanceDecommissioner,
  ecsInstanceDrainer,
  imageRetention,
];
