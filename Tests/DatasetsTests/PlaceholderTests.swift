import Testing

@Test func datasetsTargetBuilds() {}
