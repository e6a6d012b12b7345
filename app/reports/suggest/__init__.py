"""The trained category model: features, the model file, training, publishing, evaluation and staff corrections."""
