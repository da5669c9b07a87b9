/**
 * The layering of src/ (docs/architecture.md), checked by `npm run lint`:
 *
 *   features: crypto (/encrypt, /decrypt, re-encryption), rotation, delegation, indexes, canaries, audit routes
 *     → keys (key lifecycle, key material and its caches)
 *       → key-provider (KMS, local), shred-log (S3, directory) and envelope (the pure cryptographic core)
 *         → common (errors, limits, permissions, metadata-only decorators)
 *
 * Cross-cutting modules (audit, auth, config, database, health, logging, metrics, rate-limit,
 * redis, repositories) serve every layer and know no feature. Only repositories (with the
 * entities, in src/repositories/entities) and the database adapter touch TypeORM.
 */
const FEATURES = 'src/(crypto|rotation|delegation|indexes|canaries)/';
const CROSS_CUTTING = 'src/(audit|auth|budget|common|config|database|dual-control|health|logging|metrics|rate-limit|redis|repositories)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules that import each other cannot be understood, tested or layered one at a time.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      severity: 'error',
      comment: 'Folders depend on each other one way only.',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'common-is-the-bottom',
      severity: 'error',
      comment: 'src/common is imported by every layer and imports none of them.',
      from: { path: '^src/common/' },
      to: { path: '^src/', pathNot: '^src/common/' },
    },
    {
      name: 'envelope-is-pure',
      severity: 'error',
      comment: 'The envelope core is plain functions over node:crypto: no Nest, no I/O, nothing above it.',
      from: { path: '^src/envelope/' },
      to: { path: ['^src/(?!(envelope|common)/)', '^node_modules/(@nestjs|typeorm|pg|@aws-sdk|redis|@keyv)/'] },
    },
    {
      name: 'key-provider-below-keys',
      severity: 'error',
      comment: 'Key providers seal and unseal bytes; they know nothing of keys, features or storage.',
      from: { path: '^src/key-provider/' },
      to: { path: '^src/(keys|crypto|rotation|delegation|audit|auth|repositories)/' },
    },
    {
      name: 'only-keys-use-the-key-provider',
      severity: 'error',
      comment: 'Sealing and unsealing happen in the keys module (KeyMaterialService) only.',
      from: { path: '^src/', pathNot: '^src/(keys|key-provider|health|app\\.module|app\\.factory|main)' },
      to: { path: '^src/key-provider/' },
    },
    {
      name: 'shred-log-is-storage',
      severity: 'error',
      comment:
        'The shred log stores and lists crypto-shred records outside the key database; it knows nothing of keys, features or the database.',
      from: { path: '^src/shred-log/' },
      to: { path: '^src/(?!(shred-log|config|common)/)' },
    },
    {
      name: 'only-keys-use-the-shred-log',
      severity: 'error',
      comment: 'Crypto-shredding and its replay after a restore live in the keys module.',
      from: { path: '^src/', pathNot: '^src/(keys|shred-log|cli)/' },
      to: { path: '^src/shred-log/' },
    },
    {
      name: 'keys-below-features',
      severity: 'error',
      comment: 'The keys module serves the features and never calls them.',
      from: { path: '^src/keys/' },
      to: { path: `^${FEATURES}` },
    },
    {
      name: 'crypto-below-other-features',
      severity: 'error',
      comment: 'Rotation and delegation use the crypto feature (re-encryption); never the reverse.',
      from: { path: '^src/crypto/' },
      to: { path: '^src/(rotation|delegation|canaries)/' },
    },
    {
      name: 'indexes-below-crypto',
      comment: 'Blind indexes serve /encrypt (its `index` option); they never call a feature.',
      severity: 'error',
      from: { path: '^src/indexes/' },
      to: { path: '^src/(crypto|rotation|delegation)/' },
    },
    {
      name: 'cross-cutting-knows-no-feature',
      severity: 'error',
      comment: 'Audit, auth, config, errors and the other shared modules never import a feature or the keys module.',
      from: { path: `^${CROSS_CUTTING}` },
      to: { path: `^(${FEATURES}|src/keys/)` },
    },
    {
      name: 'typeorm-only-in-repositories',
      severity: 'error',
      comment: 'Only repositories (their entities included) and the database adapter, migrations and the migration CLI use TypeORM.',
      from: { path: '^src/', pathNot: ['^src/(repositories|database)/', '^src/cli/migrate\\.ts$', '^src/app\\.module'] },
      to: { path: '^node_modules/(typeorm|@nestjs/typeorm)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.spec\\.ts$' },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
