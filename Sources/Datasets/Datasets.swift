// The data path: dataset files, sources, augmentations and the loader.
enum DatasetsModule {}
