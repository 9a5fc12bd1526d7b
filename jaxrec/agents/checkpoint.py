"""Orbax checkpoints of trained agents: the policy parameters (any batch of seeds / limits) plus the
:class:`jaxrec.agents.train.CPOConfig` that rebuilds the network, so a saved agent can be reloaded
and evaluated without retraining.

Layout of ``DIR``: ``DIR/params`` (an orbax PyTree checkpoint, which orbax finalises by an atomic
rename, so a crashed save leaves no half-written ``params``) and ``DIR/agent.json`` (the config,
written atomically after the parameters).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax

from jaxrec.agents.train_config import CPOConfig
from jaxrec.errors import DataFormatError
from jaxrec.io import write_json


def save_agent(directory: str | Path, policy: Any, config: CPOConfig, **metadata: Any) -> Path:
    """Write ``policy`` (a parameter pytree, batched or not) and ``config`` under ``directory``
    (which must not hold an agent yet). ``metadata`` (JSON-ready) is stored beside the config."""
    import orbax.checkpoint as ocp

    directory = Path(directory).absolute()
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(directory / "params", policy)
        checkpointer.wait_until_finished()
    write_json(
        directory / "agent.json",
        {"config": dataclasses.asdict(config), "metadata": metadata},
    )
    return directory


def load_agent(directory: str | Path) -> tuple[Any, CPOConfig, dict]:
    """Read an agent written by :func:`save_agent`: ``(policy, config, metadata)``.

    Raises:
      DataFormatError: ``directory`` holds no complete agent.
    """
    import orbax.checkpoint as ocp

    directory = Path(directory).absolute()
    meta_path = directory / "agent.json"
    if not meta_path.is_file() or not (directory / "params").is_dir():
        raise DataFormatError(str(directory), "no saved agent here (agent.json and params/)")
    try:
        meta = json.loads(meta_path.read_text())
        fields = meta["config"]
        fields["hidden"] = tuple(fields["hidden"])
        config = CPOConfig(**fields)
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise DataFormatError(str(meta_path), f"not an agent description: {error}") from error
    with ocp.StandardCheckpointer() as checkpointer:
        policy = checkpointer.restore(directory / "params")
    return jax.tree.map(jax.numpy.asarray, policy), config, meta.get("metadata", {})
