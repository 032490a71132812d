from .agent import DagsterAgent
from .agent_config import AgentConfigInputs, render_agent_config, to_yaml

__all__ = ["AgentConfigInputs", "DagsterAgent", "render_agent_config", "to_yaml"]
