// Real JPEG and PNG files, encoded here with libjpeg and libpng, decoded back to RGB; and a folder
// of good and bad files prepared into a dataset, where the bad ones become skips with reasons.

import Datasets
import Foundation
import Testing

@Suite struct ImageDecodingTests {
    let width = 24
    let height = 16

    @Test func rgbPNGDecodesExactly() throws {
        let pixels = testImage(width: width, height: height, seed: 1)
        let file = try pixels.withUnsafeBytes {
            try ImageCodec.encodePNG(pixels: $0, width: width, height: height, layout: .rgb)
        }
        let image = try ImageCodec.decode(file)
        #expect(image == RGBImage(width: width, height: height, pixels: pixels))
    }

    @Test func grayscalePNGBecomesRGBWithEqualChannels() throws {
        let gray = (0..<(width * height)).map { UInt8($0 % 256) }
        let file = try gray.withUnsafeBytes {
            try ImageCodec.encodePNG(pixels: $0, width: width, height: height, layout: .gray)
        }
        let image = try ImageCodec.decode(file)
        #expect(image.pixels == gray.flatMap { [$0, $0, $0] })
    }

    @Test func palettePNGExpandsThroughItsColormap() throws {
        let colormap: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]
        let indices = (0..<(width * height)).map { UInt8($0 % 4) }
        let file = try indices.withUnsafeBytes {
            try ImageCodec.encodePNG(pixels: $0, width: width, height: height, layout: .palette(colormap: colormap))
        }
        let image = try ImageCodec.decode(file)
        let expected = indices.flatMap { colormap[Int($0) * 3..<Int($0) * 3 + 3] }
        #expect(image.pixels == expected)
    }

    @Test func rgbaPNGIsCompositedOnWhite() throws {
        // Opaque red, fully transparent blue, half-transparent black, repeated.
        let palette: [[UInt8]] = [[255, 0, 0, 255], [0, 0, 255, 0], [0, 0, 0, 128]]
        let rgba = (0..<(width * height)).flatMap { palette[$0 % 3] }
        let file = try rgba.withUnsafeBytes {
            try ImageCodec.encodePNG(pixels: $0, width: width, height: height, layout: .rgba)
        }
        let image = try ImageCodec.decode(file)
        #expect(Array(image.pixels[0..<3]) == [255, 0, 0])
        #expect(Array(image.pixels[3..<6]) == [255, 255, 255])
        // Black at alpha 128/255 over white: about 127 per channel; libpng composites in linear
        // light, so allow the gamma-dependent spread of 100...190.
        #expect(image.pixels[6..<9].allSatisfy { $0 >= 100 && $0 <= 190 && $0 == image.pixels[6] })
    }

    @Test func sixteenBitPNGBecomesEightBit() throws {
        // Linear 0, 1 and 0.214 (about sRGB 0.5) in every channel.
        let levels: [UInt16] = [0, 65535, 14025]
        let samples = (0..<(width * height)).flatMap { [UInt16](repeating: levels[$0 % 3], count: 3) }
        let file = try samples.withUnsafeBytes {
            try ImageCodec.encodePNG(pixels: $0, width: width, height: height, layout: .linearRGB16)
        }
        let image = try ImageCodec.decode(file)
        // Tolerance 2: the sRGB encoding of 0.214 rounds to 127 or 128.
        let expected = [0, 0, 0, 255, 255, 255, 128, 128, 128]
        for position in 0..<9 { #expect(abs(Int(image.pixels[position]) - expected[position]) <= 2) }
    }

    @Test func jpegDecodesCloseToItsSource() throws {
        let pixels = testImage(width: 64, height: 48, seed: 2).map { $0 / 2 + 64 }
        let file = try ImageCodec.encodeJPEG(pixels: pixels, width: 64, height: 48, quality: 95)
        let image = try ImageCodec.decode(file)
        #expect(image.width == 64 && image.height == 48)
        // Quality 95 on a smooth pattern: mean absolute error well under 4 levels of 255.
        let error = zip(image.pixels, pixels).map { abs(Int($0) - Int($1)) }.reduce(0, +)
        #expect(Double(error) / Double(pixels.count) < 4)
    }

    @Test func grayscaleJPEGBecomesRGB() throws {
        let gray: [UInt8] = (0..<(32 * 32)).map { UInt8(($0 % 32) * 8) }
        let file = try ImageCodec.encodeJPEG(pixels: gray, width: 32, height: 32, channels: 1, quality: 90)
        let image = try ImageCodec.decode(file)
        #expect(image.width == 32 && image.pixels.count == 32 * 32 * 3)
        let pixels = image.pixels
        var equal = true
        for start in stride(from: 0, to: pixels.count, by: 3) {
            equal = equal && pixels[start] == pixels[start + 1] && pixels[start] == pixels[start + 2]
        }
        #expect(equal)
    }

    @Test(arguments: ["zero", "text", "truncatedJPEG", "corruptJPEG", "truncatedPNG", "corruptPNG"])
    func badBytesAreErrorsNotCrashes(kind: String) throws {
        let jpeg = try ImageCodec.encodeJPEG(pixels: testImage(width: 32, height: 32, seed: 3), width: 32, height: 32)
        let pixels = testImage(width: 32, height: 32, seed: 4)
        let png = try pixels.withUnsafeBytes {
            try ImageCodec.encodePNG(pixels: $0, width: 32, height: 32, layout: .rgb)
        }
        let bytes: [UInt8]
        switch kind {
        case "zero": bytes = []
        case "text": bytes = Array("hello, not an image\n".utf8)
        case "truncatedJPEG": bytes = Array(jpeg.prefix(jpeg.count / 2))
        case "corruptJPEG": bytes = Array(jpeg.prefix(4)) + [UInt8](repeating: 0x5A, count: 200)
        case "truncatedPNG": bytes = Array(png.prefix(png.count / 2))
        default: bytes = Array(png.prefix(16)) + [UInt8](repeating: 0x33, count: 100)
        }
        #expect(throws: ImageDecodeError.self) { try ImageCodec.decode(bytes) }
    }

    @Test func preparingAFolderSkipsBadFilesWithReasons() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        let pixels = testImage(width: 20, height: 20, seed: 5)
        let jpeg = try ImageCodec.encodeJPEG(pixels: pixels, width: 20, height: 20)
        let png = try pixels.withUnsafeBytes {
            try ImageCodec.encodePNG(pixels: $0, width: 20, height: 20, layout: .rgb)
        }
        folder.write(jpeg, to: "images/cats/a.jpg")
        folder.write(png, to: "images/cats/b.png")
        folder.write([], to: "images/cats/empty.jpg")
        folder.write(Array(jpeg.prefix(jpeg.count / 2)), to: "images/dogs/truncated.jpg")
        folder.write(Array("notes".utf8), to: "images/dogs/readme.txt")
        folder.write(Array(jpeg.prefix(3)) + [UInt8](repeating: 7, count: 64), to: "images/dogs/corrupt.jpg")
        folder.write(png, to: "images/dogs/good.png")

        let output = folder.file("out.simclr")
        let summary = try DatasetPreparer.prepare(
            source: DatasetSource.recognise(folder.file("images"), split: nil), output: output,
            options: PrepareOptions())
        #expect(summary.classNames == ["cats", "dogs"])
        #expect(summary.imagesPerClass == [2, 1])
        let reasons = Dictionary(
            uniqueKeysWithValues: summary.skipped.map { (URL(fileURLWithPath: $0.path).lastPathComponent, $0.reason) })
        #expect(reasons.keys.sorted() == ["corrupt.jpg", "empty.jpg", "readme.txt", "truncated.jpg"])
        #expect(reasons["empty.jpg"]!.contains("empty"))
        #expect(reasons["readme.txt"]!.contains("not a JPEG or PNG"))
        #expect(reasons["truncated.jpg"]!.contains("corrupt or truncated"))

        let dataset = try PackedDataset(path: output)
        #expect(dataset.count == 3 && dataset.height == 20 && dataset.width == 20)
        #expect(Array(dataset.pixels(at: 1)) == pixels)  // b.png: lossless
        #expect((0..<3).map { dataset.label(at: $0) } == [0, 0, 1])
    }

    @Test func flatFolderIsAnUnlabeledPoolAndImagesAreResized() throws {
        let folder = ScratchFolder()
        defer { folder.remove() }
        for (number, (width, height)) in [(40, 30), (30, 50), (64, 64)].enumerated() {
            let pixels = testImage(width: width, height: height, seed: number)
            let png = try pixels.withUnsafeBytes {
                try ImageCodec.encodePNG(pixels: $0, width: width, height: height, layout: .rgb)
            }
            folder.write(png, to: "pool/\(number).png")
        }
        let source = try DatasetSource.recognise(folder.file("pool"), split: nil)
        #expect(throws: PrepareError.self) {
            try DatasetPreparer.prepare(source: source, output: folder.file("mixed.simclr"), options: PrepareOptions())
        }
        #expect(!FileManager.default.fileExists(atPath: folder.file("mixed.simclr")))
        let summary = try DatasetPreparer.prepare(
            source: source, output: folder.file("pool.simclr"), options: PrepareOptions(imageSize: 16))
        #expect(summary.count == 3 && summary.classNames.isEmpty && summary.height == 16)
        let dataset = try PackedDataset(path: folder.file("pool.simclr"))
        #expect(!dataset.isLabeled && dataset.label(at: 0) == nil)
    }
}
