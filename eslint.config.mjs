// ESLint (flat config) with typescript-eslint; formatting is Prettier's (eslint-config-prettier
// turns off the rules it owns). Layering between folders is dependency-cruiser's
// (.dependency-cruiser.cjs); the rule below keeps database access inside the repositories.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/**', '.build/**', 'node_modules/**', 'coverage/**', 'clients/**/dist/**', 'clients/**/src/generated/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-control-regex': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Only repositories (and the database adapter itself) reach the database: services receive
    // repositories, so every query says which node it reads. The migration CLI opens its own
    // connection to run the migrations and exits.
    files: ['src/**/*.ts'],
    ignores: ['src/repositories/**', 'src/database/**', 'src/cli/migrate.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'typeorm',
              importNames: ['DataSource', 'Repository', 'EntityManager', 'QueryRunner'],
              message: 'Database access belongs in src/repositories: inject a repository instead.',
            },
            {
              name: '@nestjs/typeorm',
              importNames: ['InjectDataSource', 'InjectRepository', 'InjectEntityManager'],
              message: 'Database access belongs in src/repositories: inject a repository instead.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
