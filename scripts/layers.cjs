/**
 * The layers of src/, lowest first: a module imports only from its own layer
 * or the ones below (.dependency-cruiser.cjs enforces it, scripts/import-graph.mjs
 * counts it). A layer is a list of folders of src/ or top-level file patterns.
 * The pipeline's order: ingest -> series -> apply -> build -> test -> perf ->
 * results -> report, with the platform below it and the wiring above.
 */
module.exports = [
  ['(errors|ldd|log|paths|pid|random|shell)\\.ts'],
  ['config'],
  ['sandbox', 'queue', 'artifacts', 'tree'],
  ['mail', 'series', 'routing'],
  ['apply'],
  ['kconfig', 'bpf', 'build'],
  ['splat', 'suite', 'vm'],
  ['pktgen', 'perf'],
  ['pipeline'],
  ['stages'],
  ['store'],
  ['notify'],
  ['coordinator'],
  ['lore', 'github', 'web'],
  ['app'],
  ['cli'],
];
