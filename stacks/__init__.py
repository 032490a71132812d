from .stage import DagsterPlatformStage

__all__ = ["DagsterPlatformStage"]
