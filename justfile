# Every command a person runs. `just --list` shows them.
set positional-arguments
set shell := ["bash", "-c"]

default:
    @just --list

# Install the package with its dev tools (editable).
install:
    python -m pip install -e '.[dev]'

# Run the bot against Telegram (TELEGRAM_BOT_TOKEN); Postgres/Redis embedded unless DATABASE_URL/REDIS_URL are set.
run *args:
    python -m adapters run "$@"

# Run the real bot against the local Bot API emulator and chat with it in this terminal.
chat *args:
    python -m sim.emulators.chat "$@"

# Start one job worker process (any number can run against the same Postgres/Redis/storage).
worker *args:
    python -m adapters worker "$@"

# Compare blob storage with the uploads table: just sweep [--delete] (deletes blobs without an upload row).
sweep *args:
    python -m adapters sweep "$@"

# Replay a scenario in the deterministic simulator: just simulate smoke [--seed N] [--json] [--plot f.png]
# Random worlds, every invariant: just simulate swarm --seeds N [--from S] (failures replay from their file)
simulate scenario *args:
    PYTHONHASHSEED=0 python -m sim "$@"

# The fault suite: property, flow and simulator tests, a bounded swarm, every scenario (<= 10 min):
# just faults [--jobs 2] [--exitfirst] [--swarm-seeds N] [--list]
faults *args:
    PYTHONHASHSEED=0 python -m sim faults "$@"

# Mutation testing: each bug of mutants/catalogue.toml in a copy of the checkout, against
# the fault suite: just mutants [--only ID,ID] [--jobs 2] [--report F.json]
mutants *args:
    PYTHONHASHSEED=0 python -m sim mutants "$@"

# The test suite (uses DATABASE_URL/REDIS_URL when set, embedded servers otherwise).
test *args:
    python -m pytest -q "$@"

# Type checks and lint (mypy strict on src, ruff with the flake8-async rules).
lint:
    python -m ruff check src tests bench
    python -m ruff format --check src tests bench
    python -m mypy

# Benchmarks: just bench analysis | sim | stack | soak --minutes N | calibrate (writes scenarios/models/measured.toml)
bench what="analysis" *args:
    python bench/{{what}}_bench.py "${@:2}"

# Start pgbouncer (transaction pooling) on 127.0.0.1:6432 in front of the local Postgres.
pgbouncer action="start":
    bash scripts/pgbouncer.sh {{action}}
