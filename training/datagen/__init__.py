"""training.datagen: the seeded NL→flow dataset generator for the workflow DSL.

>>> from training.datagen import DatagenConfig, generate_dataset
>>> data = generate_dataset(DatagenConfig(n=5, tenant_pairs=2))
>>> all(p.code.startswith("flow ") for p in data.pairs)
True
"""

from training.datagen.config import DatagenConfig
from training.datagen.flows import GeneratorBug
from training.datagen.generate import Dataset, Pair, check_pair, generate_dataset, write_dataset

__all__ = ["Dataset", "DatagenConfig", "GeneratorBug", "Pair", "check_pair", "generate_dataset", "write_dataset"]
