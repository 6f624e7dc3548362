// Swift face of the JPEG/PNG coder in CImageCodec: decodes whatever a user's folder holds into RGB
// and encodes images (used by tests to build real files, and available to exporters). The format is
// recognised from the first bytes, never from the file name.

import CImageCodec
import Foundation

/// An 8-bit RGB image, `[height, width, 3]` row-major.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)x\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// Why bytes could not be decoded; becomes a "skipped" line with the file's path.
public struct ImageDecodeError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// The pixel layouts `ImageCodec.encodePNG` writes.
public enum PNGLayout: Sendable {
    /// 1 byte per pixel.
    case gray
    /// 3 bytes per pixel.
    case rgb
    /// 4 bytes per pixel, straight alpha.
    case rgba
    /// 1 index byte per pixel into `colormap` (RGB triples).
    case palette(colormap: [UInt8])
    /// 3 UInt16 (native endianness) per pixel, linear light; written as a 16-bit PNG.
    case linearRGB16
}

public enum ImageCodec {
    /// Decodes a JPEG or PNG held in memory to RGB (grayscale, palette, 16-bit and CMYK converted;
    /// alpha composited on white).
    public static func decode(_ bytes: [UInt8]) throws(ImageDecodeError) -> RGBImage {
        guard !bytes.isEmpty else { throw ImageDecodeError(reason: "empty file (0 bytes)") }
        let isJPEG = bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF
        let isPNG = bytes.count >= 8 && bytes[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        guard isJPEG || isPNG else { throw ImageDecodeError(reason: "not a JPEG or PNG image (unrecognised content)") }

        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0
        var height: Int32 = 0
        var message = [CChar](repeating: 0, count: Int(CIMAGE_ERROR_LENGTH))
        let status = bytes.withUnsafeBufferPointer { input in
            message.withUnsafeMutableBufferPointer { error in
                isJPEG
                    ? cimage_decode_jpeg(input.baseAddress, input.count, &pixels, &width, &height, error.baseAddress)
                    : cimage_decode_png(input.baseAddress, input.count, &pixels, &width, &height, error.baseAddress)
            }
        }
        defer { free(pixels) }
        guard status == 0, let pixels else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw ImageDecodeError(reason: "corrupt or truncated image: " + text)
        }
        let count = Int(width) * Int(height) * 3
        return RGBImage(
            width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    /// Encodes `pixels` (`[height, width, channels]`, channels 1 or 3) as a baseline JPEG.
    public static func encodeJPEG(
        pixels: [UInt8], width: Int, height: Int, channels: Int = 3, quality: Int = 90
    ) throws(ImageDecodeError) -> [UInt8] {
        precondition(channels == 1 || channels == 3, "encodeJPEG: 1 or 3 channels")
        precondition(pixels.count == width * height * channels, "encodeJPEG: pixel count does not match the shape")
        var output: UnsafeMutablePointer<UInt8>?
        var length = 0
        var message = [CChar](repeating: 0, count: Int(CIMAGE_ERROR_LENGTH))
        let status = pixels.withUnsafeBufferPointer { input in
            message.withUnsafeMutableBufferPointer { error in
                cimage_encode_jpeg(
                    input.baseAddress, Int32(width), Int32(height), Int32(channels), Int32(quality), &output, &length,
                    error.baseAddress)
            }
        }
        return try collect(status: status, output: output, length: length, message: message)
    }

    /// Encodes raw pixel bytes laid out as `layout` describes as a PNG file.
    public static func encodePNG(
        pixels: UnsafeRawBufferPointer, width: Int, height: Int, layout: PNGLayout
    ) throws(ImageDecodeError) -> [UInt8] {
        let format: Int32
        var colormap: [UInt8] = []
        let bytesPerPixel: Int
        switch layout {
        case .gray: (format, bytesPerPixel) = (Int32(CIMAGE_PNG_GRAY.rawValue), 1)
        case .rgb: (format, bytesPerPixel) = (Int32(CIMAGE_PNG_RGB.rawValue), 3)
        case .rgba: (format, bytesPerPixel) = (Int32(CIMAGE_PNG_RGBA.rawValue), 4)
        case .palette(let entries):
            (format, bytesPerPixel, colormap) = (Int32(CIMAGE_PNG_PALETTE.rawValue), 1, entries)
        case .linearRGB16: (format, bytesPerPixel) = (Int32(CIMAGE_PNG_LINEAR_RGB16.rawValue), 6)
        }
        precondition(pixels.count == width * height * bytesPerPixel, "encodePNG: pixel count does not match the shape")
        var output: UnsafeMutablePointer<UInt8>?
        var length = 0
        var message = [CChar](repeating: 0, count: Int(CIMAGE_ERROR_LENGTH))
        let status = colormap.withUnsafeBytes { map in
            message.withUnsafeMutableBufferPointer { error in
                cimage_encode_png(
                    pixels.baseAddress, Int32(width), Int32(height), format, map.isEmpty ? nil : map.baseAddress,
                    Int32(colormap.count / 3), &output, &length, error.baseAddress)
            }
        }
        return try collect(status: status, output: output, length: length, message: message)
    }

    private static func collect(
        status: Int32, output: UnsafeMutablePointer<UInt8>?, length: Int, message: [CChar]
    ) throws(ImageDecodeError) -> [UInt8] {
        defer { free(output) }
        guard status == 0, let output else {
            throw ImageDecodeError(reason: message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return Array(UnsafeBufferPointer(start: output, count: length))
    }
}
