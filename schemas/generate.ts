// Regenerates the JSON Schemas checked in beside this file from their zod sources: `npm run schemas`.
// test/deploy.test.ts fails when a checked-in schema is out of date.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deployJsonSchema } from '../exporters/deploy.ts';

export const SCHEMAS: Record<string, () => object> = { 'deploy.schema.json': deployJsonSchema };

export function schemaText(make: () => object): string {
  return JSON.stringify(make(), null, 2) + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [file, make] of Object.entries(SCHEMAS)) {
    writeFileSync(new URL(file, import.meta.url), schemaText(make));
    console.log(`wrote schemas/${file}`);
  }
}
