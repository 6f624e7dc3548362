// swift-tools-version: 6.0
// The SimCLR-on-CPU-clusters package. Library targets hold the logic, `simclr` is a thin
// command-line front end, and the C libraries come from Debian's packages through system-library
// targets (see scripts/install-deps.sh). Nothing outside the Swift toolchain is fetched.

import PackageDescription

let package = Package(
    name: "simclr",
    products: [
        .executable(name: "simclr", targets: ["simclr"])
    ],
    targets: [
        // C libraries from Debian's packages.
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZeroMQ", pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(
            name: "CProtobufC", pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(
            name: "CJPEG", pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),

        // Our own C: libjpeg's non-returning error callback needs setjmp/longjmp, which Swift lacks.
        .target(
            name: "CImageCodec", dependencies: ["CJPEG", "CPNG"],
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),

        // Layers of the system, bottom up.
        .target(name: "Compute", dependencies: ["CBLAS"]),
        .target(name: "Optimization", dependencies: ["Compute"]),
        .target(name: "Datasets", dependencies: ["Compute", "CImageCodec"]),
        .target(name: "Training", dependencies: ["Compute", "Optimization", "Datasets"]),
        .target(name: "Evaluation", dependencies: ["Compute", "Optimization", "Datasets", "Training"]),
        .target(name: "Collectives", dependencies: ["Compute", "CZeroMQ"]),
        .target(name: "Cluster", dependencies: ["Collectives", "Compute", "Training", "Datasets"]),
        .executableTarget(
            name: "simclr",
            dependencies: [
                "Cluster", "Training", "Evaluation", "Datasets", "Compute", "Optimization", "Collectives",
            ]),

        .testTarget(name: "ComputeTests", dependencies: ["Compute"], resources: [.copy("Fixtures")]),
        .testTarget(name: "OptimizationTests", dependencies: ["Optimization", "Compute"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Compute"]),
        .testTarget(name: "CollectivesTests", dependencies: ["Collectives", "Compute"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Datasets", "Compute"]),
        .testTarget(
            name: "ClusterTests", dependencies: ["Cluster", "Collectives", "Training", "Datasets", "Compute"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Training", "Datasets", "Compute"]),
    ]
)
