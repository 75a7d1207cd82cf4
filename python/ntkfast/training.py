"""Placeholder (issue 4): gradient descent of finite networks."""
__all__ = ["train", "TrainingHistory", "TrainingDivergedError"]


class TrainingHistory:  # placeholder
    pass


class TrainingDivergedError(FloatingPointError):  # placeholder
    pass


def train(*args, **kwargs):
    raise NotImplementedError
