/** A one-line description of the machine the numbers were taken on. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import { findMotoPython } from '../test/emulator/moto';

export interface Machine {
  readonly cpu: string;
  readonly cpus: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly moto: string;
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim().replace(/\s+/g, ' ') ?? 'unknown CPU',
    cpus: cpus.length,
    memoryGiB: os.totalmem() / 1024 ** 3,
    os: `${osName()} (${os.type()} ${os.release()}, ${os.arch()})`,
    node: process.version,
    moto: motoVersion(),
  };
}

export function machineLine(m: Machine): string {
  return `${m.cpu}, ${m.cpus} logical CPUs, ${m.memoryGiB.toFixed(1)} GiB RAM; ${m.os}; Node.js ${m.node}; ${m.moto}`;
}

function osName(): string {
  try {
    const release = fs.readFileSync('/etc/os-release', 'utf8');
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(release);
    if (pretty) return pretty[1];
  } catch {
    // not Linux, or no os-release
  }
  return os.type();
}

function motoVersion(): string {
  const python = findMotoPython();
  const out = spawnSync(python, ['-c', 'import moto, platform; print(f"moto {moto.__version__} (Python {platform.python_version()})")'], { encoding: 'utf8' });
  return out.status === 0 ? out.stdout.trim() : 'moto (version unknown)';
}
