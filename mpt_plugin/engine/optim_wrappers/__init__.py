"""Optimiser wrapper constructors."""
from .multi_optim_wrapper_constructor import MPTMultiOptimWrapperConstructor

__all__ = ['MPTMultiOptimWrapperConstructor']
