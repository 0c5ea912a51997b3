/** Prints the top self-time functions of a V8 .cpuprofile: `tsx bench/profile-summary.ts file.cpuprofile [top]`. */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
}

const [file, top = '30'] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
const total = profile.samples.length;
const byFunction = new Map<string, number>();
for (const node of profile.nodes) {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/main\//, '')}:${lineNumber + 1}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + node.hitCount);
}
const rows = [...byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(top));
for (const [name, hits] of rows) console.log(`${((hits / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
