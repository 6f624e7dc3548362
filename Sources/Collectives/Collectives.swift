// Collective operations between processes over ZeroMQ.
enum CollectivesModule {}
