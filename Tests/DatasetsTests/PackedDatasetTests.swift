// The dataset file: a round trip keeps pixels, labels and names; damaged files are refused with
// the matching typed error; and a prepare that fails leaves nothing under the output name.

import Datasets
import Foundation
import Testing

@Suite struct PackedDatasetTests {
    @Test func roundTripKeepsPixelsLabelsAndNames() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        let images = (0..<5).map { testImage(width: 7, height: 5, seed: $0) }
        let dataset = try makeDataset(
            at: folder.file("d.simclr"), height: 5, width: 7, images: images, labels: [2, 0, 1, 1, 2],
            classNames: ["a", "b", "c é"])
        #expect(dataset.count == 5 && dataset.height == 5 && dataset.width == 7 && dataset.channels == 3)
        #expect(dataset.classNames == ["a", "b", "c é"] && dataset.isLabeled)
        #expect((0..<5).map { dataset.label(at: $0) } == [2, 0, 1, 1, 2])
        #expect((0..<5).allSatisfy { Array(dataset.pixels(at: $0)) == images[$0] })
        try dataset.verify()
        #expect(dataset.fingerprint.count == 16)

        // Same content, same fingerprint; one pixel changed, another.
        let again = try makeDataset(
            at: folder.file("e.simclr"), height: 5, width: 7, images: images, labels: [2, 0, 1, 1, 2],
            classNames: ["a", "b", "c é"])
        #expect(again.fingerprint == dataset.fingerprint)
        var changed = images
        changed[3][10] ^= 1
        let other = try makeDataset(
            at: folder.file("f.simclr"), height: 5, width: 7, images: changed, labels: [2, 0, 1, 1, 2],
            classNames: ["a", "b", "c é"])
        #expect(other.fingerprint != dataset.fingerprint)
        #expect(folder.contents() == ["d.simclr", "e.simclr", "f.simclr"])  // no temporary files left
    }

    /// Writes a small dataset and returns its bytes, for tests that damage them.
    private func datasetBytes(_ folder: ScratchFolder) throws -> [UInt8] {
        let images = (0..<4).map { testImage(width: 8, height: 8, seed: $0) }
        _ = try makeDataset(
            at: folder.file("good.simclr"), height: 8, width: 8, images: images, labels: [0, 1, 0, 1],
            classNames: ["x", "y"])
        return [UInt8](FileManager.default.contents(atPath: folder.file("good.simclr"))!)
    }

    @Test func damagedFilesAreRefusedWithTypedErrors() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        let bytes = try datasetBytes(folder)

        func open(_ damaged: [UInt8]) -> DatasetFileError? {
            folder.write(damaged, to: "bad.simclr")
            do {
                let dataset = try PackedDataset(path: folder.file("bad.simclr"))
                try dataset.verify()
                return nil
            } catch {
                return error as? DatasetFileError
            }
        }

        var magic = bytes
        magic[0] = UInt8(ascii: "X")
        guard case .badMagic = open(magic) else { Issue.record("bad magic not detected"); return }

        var version = bytes
        version[8] = 9
        guard case .unsupportedVersion(_, 9, 1) = open(version) else { Issue.record("version not detected"); return }

        guard case .truncated = open(Array(bytes.dropLast(10))) else { Issue.record("truncation not detected"); return }
        guard case .truncated = open(Array(bytes.prefix(40))) else { Issue.record("short file not detected"); return }

        var header = bytes
        header[20] ^= 0x01  // inside the count field
        guard case .checksumMismatch(_, "header", _, _) = open(header) else {
            Issue.record("header damage not detected")
            return
        }

        var pixel = bytes
        pixel[4096 + 100] ^= 0x40
        guard case .checksumMismatch(let path, "pixel", let expected, let actual) = open(pixel) else {
            Issue.record("pixel damage not detected")
            return
        }
        #expect(path.hasSuffix("bad.simclr") && expected != actual)

        var label = bytes
        label[label.count - 1] ^= 0x01
        guard case .checksumMismatch(_, "label", _, _) = open(label) else {
            Issue.record("label damage not detected")
            return
        }
    }

    @Test func missingFileIsAnIOErrorWithThePath() {
        #expect(
            throws: DatasetFileError.io(
                path: "/nonexistent/x.simclr", operation: "open", reason: "No such file or directory")
        ) {
            try PackedDataset(path: "/nonexistent/x.simclr")
        }
    }

    @Test func failedPrepareLeavesNoFileUnderTheFinalName() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }

        // CIFAR-10 batches of the wrong size, one cut at a record boundary: refused before
        // anything is written.
        for bytes in [3073 * 2 + 5, 3073 * 9999, 0] {
            folder.write([UInt8](repeating: 1, count: bytes), to: "cifar/test_batch.bin")
            let cifar = try DatasetSource.recognise(folder.file("cifar"), split: nil)
            #expect(cifar == .cifar10(path: folder.file("cifar")))
            #expect(
                throws: PrepareError.cifarFileSize(
                    path: folder.file("cifar/test_batch.bin"), bytes: bytes, expected: 3073 * 10000, records: 10000)
            ) {
                try DatasetPreparer.prepare(
                    source: cifar, output: folder.file("out.simclr"), options: PrepareOptions(split: .test))
            }
        }

        // A folder whose images differ in size fails after writing part of the temporary file.
        for (number, side) in [8, 8, 8, 9].enumerated() {
            let pixels = testImage(width: side, height: side, seed: number)
            let png = try pixels.withUnsafeBytes {
                try ImageCodec.encodePNG(pixels: $0, width: side, height: side, layout: .rgb)
            }
            folder.write(png, to: "mixed/\(number).png")
        }
        let mixed = try DatasetSource.recognise(folder.file("mixed"), split: nil)
        #expect(throws: PrepareError.self) {
            try DatasetPreparer.prepare(source: mixed, output: folder.file("out.simclr"), options: PrepareOptions())
        }

        // A class folder whose only file is corrupt ends with no images for that class.
        folder.write(Array("junk".utf8), to: "classes/a/x.jpg")
        folder.write(
            try ImageCodec.encodeJPEG(pixels: testImage(width: 8, height: 8, seed: 1), width: 8, height: 8),
            to: "classes/b/y.jpg")
        let classes = try DatasetSource.recognise(folder.file("classes"), split: nil)
        #expect {
            try DatasetPreparer.prepare(source: classes, output: folder.file("out.simclr"), options: PrepareOptions())
        } throws: { error in
            // The error says why the folder's one file was not usable.
            guard case .emptyClassFolder(let path, let skipped) = error as? PrepareError else { return false }
            return path == folder.file("classes/a") && skipped.count == 1 && skipped[0].contains("x.jpg")
        }
        #expect(!folder.contents().contains { $0.contains("out.simclr") })

        // An output folder that does not exist: a typed error naming the path.
        #expect(throws: PrepareError.self) {
            try DatasetPreparer.prepare(
                source: .synthetic(count: 10), output: folder.file("missing/out.simclr"), options: PrepareOptions())
        }
    }

    @Test func emptySourcesAreTypedErrors() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        try FileManager.default.createDirectory(atPath: folder.file("nothing"), withIntermediateDirectories: true)
        #expect(throws: PrepareError.noImages(path: folder.file("nothing"))) {
            try DatasetPreparer.prepare(
                source: DatasetSource.recognise(folder.file("nothing"), split: nil), output: folder.file("o"),
                options: PrepareOptions())
        }
        folder.write(Array("x".utf8), to: "classes/a/1.png")
        try FileManager.default.createDirectory(atPath: folder.file("classes/b"), withIntermediateDirectories: true)
        #expect(throws: PrepareError.emptyClassFolder(path: folder.file("classes/b"))) {
            _ = try DatasetPreparer.prepare(
                source: DatasetSource.recognise(folder.file("classes"), split: nil), output: folder.file("o"),
                options: PrepareOptions())
        }
        #expect(throws: PrepareError.badSyntheticSpecification("synthetic:x")) {
            try DatasetSource.recognise("synthetic:x", split: nil)
        }
    }

    @Test func cifarBinariesPackWithTheirLabels() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        // CIFAR-100's test.bin at its published size, 10,000 records: the first two are coarse 3 /
        // fine 7 and coarse 0 / fine 99 (pixel planes R, G, B), the rest fine label i % 100.
        var records: [UInt8] = []
        for (coarse, fine, base) in [(3, 7, 10), (0, 99, 200)] {
            records += [UInt8(coarse), UInt8(fine)]
            for channel in 0..<3 { records += [UInt8](repeating: UInt8(base + channel), count: 1024) }
        }
        for record in 2..<10000 { records += [0, UInt8(record % 100)] + [UInt8](repeating: 50, count: 3072) }
        folder.write(records, to: "c100/test.bin")
        let summary = try DatasetPreparer.prepare(
            source: DatasetSource.recognise(folder.file("c100"), split: .test), output: folder.file("c.simclr"),
            options: PrepareOptions(split: .test))
        #expect(summary.count == 10000 && summary.classNames.count == 100 && summary.imagesPerClass[7] == 101)
        let dataset = try PackedDataset(path: folder.file("c.simclr"))
        #expect(dataset.label(at: 0) == 7 && dataset.label(at: 1) == 99)
        #expect(Array(dataset.pixels(at: 1).prefix(6)) == [200, 201, 202, 200, 201, 202])
        #expect(dataset.classNames[99] == "worm")
    }
}
