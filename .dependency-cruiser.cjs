/**
 * The house rules of the import graph, checked by `npm run lint`
 * (dependency-cruiser). Data flows one way:
 * ingest -> series -> apply -> build -> test -> perf -> results -> report,
 * and a module imports only from its own layer or the layers below it.
 * Tests, test helpers (src/testing) and benchmarks may import anything; no
 * production module may import them.
 */

const LAYERS = require('./scripts/layers.cjs');

const pathOf = (names) => `^src/(${names.map((n) => (n.endsWith('.ts') ? n : `${n}/`)).join('|')})`;
const production = '\\.test\\.ts$|^src/testing/|^src/e2e/|^bench/';

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${i}-imports-upward`,
  comment: `${layer.join(', ')} must not import a higher layer (${LAYERS.slice(i + 1).flat().join(', ')})`,
  severity: 'error',
  from: { path: pathOf(layer), pathNot: production },
  to: { path: pathOf(LAYERS.slice(i + 1).flat()) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'modules must not depend on each other in a circle',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'no-test-helpers-in-production',
      severity: 'error',
      from: { pathNot: production },
      to: { path: production },
    },
    {
      name: 'every-folder-in-a-layer',
      comment: 'a new folder of src/ gets a place in LAYERS (.dependency-cruiser.cjs)',
      severity: 'error',
      from: { path: '^src/', pathNot: `${pathOf(LAYERS.flat())}|${production}|^workers/` },
      to: {},
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
