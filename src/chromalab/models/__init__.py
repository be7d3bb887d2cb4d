"""Colorization networks; see ``registry`` for the contract they all follow."""

from chromalab.models.registry import ModelInfo, create_model, list_models, model_info, register_model

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "register_model"]
