// npm run lint: eslint (typescript-eslint, type-checked through tsconfig.json's project) and
// prettier --check. Base: recommendedTypeChecked. On top of it, the few strict-type-checked rules
// that find real mistakes here; each choice that differs from the base says why.
import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  // test/support/berth-api.d.ts is generated (npm run gen:client).
  { ignores: ['dist/', 'node_modules/', 'test/support/berth-api.d.ts'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A switch over a union that misses a member is a bug waiting for the union to grow. A
      // deliberate `default:` counts as handling the rest (zod's issue codes, say).
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      // What a dependency deprecates (zod 4's z.string().url(), …) goes before it breaks.
      '@typescript-eslint/no-deprecated': 'error',
      // A promise returned unawaited from a try/catch/finally or a `using` scope escapes its
      // catch, or outlives what the finally and the disposal clean up. Elsewhere, either way.
      '@typescript-eslint/return-await': ['error', 'error-handling-correctness-only'],
      // `async` with no `await` is how a function that implements a Promise-returning interface
      // (a store, an engine, a dispatcher, a test double) turns a throw into a rejection: taking
      // it off would change that, so the rule is off.
      '@typescript-eslint/require-await': 'off',
      // A leading _ marks what is there for its position (an interface's parameter, a key left
      // out of a rest copy); tsc's noUnusedLocals still catches the rest.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // Left out on purpose, from strict/stylistic-type-checked:
      // - no-unnecessary-condition: noise here. dockerode's types say fields are always there
      //   that the Engine API leaves out (Labels, Names, Networks), and regex groups and indexed
      //   reads are typed string without noUncheckedIndexedAccess; the rule would have those
      //   guards removed.
      // - prefer-nullish-coalescing: `||` on an environment variable or a parsed field means
      //   "empty is unset" on purpose (BERTH_HOME='' falls back); `??` would change that.
      // - no-non-null-assertion, no-confusing-void-expression, no-empty-function and the other
      //   stylistic rules: churn without a bug found.
    },
  },
  {
    // tsc checks the same with the types (tsconfig.json: noFallthroughCasesInSwitch), so it knows
    // that a case ending in process.exit() does not fall through; this rule does not.
    files: ['**/*.ts'],
    rules: { 'no-fallthrough': 'off' },
  },
  {
    // Tests read JSON bodies (Response.json(), JSON.parse of a fixture or a log line) and assert
    // on their shape with uvu, which fails loudly at run time; typing every body would add
    // casts, not checks. The source keeps these rules; an `any` written out in a test still
    // needs its reason (no-explicit-any stays on).
    files: ['test/**'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  // The plain JavaScript files (bin/berth.mjs, scripts/build.mjs, the dashboard's script) are outside the TypeScript
  // project (no allowJs): the untyped rules only.
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], extends: [tseslint.configs.disableTypeChecked] },
  // The dashboard's page script runs in the browser.
  {
    files: ['functions/web/assets/*.js'],
    languageOptions: { globals: globals.browser, sourceType: 'script' },
  },
  // Last: turns off whatever would fight prettier's formatting.
  prettier
)
