import Testing

@Test func collectivesTargetBuilds() {}
