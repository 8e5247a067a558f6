# The two commands of the README. Both install what they need first (idempotent, cached).
SHELL := /bin/bash
.PHONY: demo test test-unit test-e2e check

demo:
	@eval "$$(scripts/setup.sh)" && node --disable-warning=ExperimentalWarning scripts/demo.ts

test: check
	@eval "$$(scripts/setup.sh)" && node scripts/test.ts all

test-unit:
	@eval "$$(scripts/setup.sh)" && node scripts/test.ts unit

test-e2e:
	@eval "$$(scripts/setup.sh)" && node scripts/test.ts e2e

check:
	@eval "$$(scripts/setup.sh)" && pnpm --silent typecheck && pnpm --silent lint
