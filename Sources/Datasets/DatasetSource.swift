// Where `prepare` reads images from, and how a SOURCE argument is recognised: `synthetic:N`, a CIFAR
// binary folder (CIFAR-10 `data_batch_*.bin`/`test_batch.bin`, CIFAR-100 `train.bin`/`test.bin`),
// or an image folder (class subfolders, or a flat unlabeled pool). Listing folders happens here;
// decoding and packing in DatasetPreparer.

import Foundation

/// Train or test part of a source that has both.
public enum DatasetSplit: String, Codable, Sendable {
    case train, test
}

public enum DatasetSource: Equatable, Sendable {
    /// A folder of images: class subfolders give labels, a flat folder is an unlabeled pool.
    case imageFolder(path: String)
    /// The CIFAR-10 binary release folder.
    case cifar10(path: String)
    /// The CIFAR-100 binary release folder (fine labels).
    case cifar100(path: String)
    /// `SyntheticDataset` with `count` images.
    case synthetic(count: Int)

    /// Recognises a SOURCE argument. For image folders, `split` picks the subfolder of that name
    /// (e.g. `cifar10-jpeg/train`) when given.
    public static func recognise(_ text: String, split: DatasetSplit?) throws -> DatasetSource {
        if text.hasPrefix("synthetic:") {
            guard let count = Int(text.dropFirst("synthetic:".count)), count > 0 else {
                throw PrepareError.badSyntheticSpecification(text)
            }
            return .synthetic(count: count)
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: text, isDirectory: &isFolder), isFolder.boolValue else {
            throw PrepareError.sourceNotFound(path: text)
        }
        let exists = { (name: String) in FileManager.default.fileExists(atPath: text + "/" + name) }
        if exists("data_batch_1.bin") || exists("test_batch.bin") { return .cifar10(path: text) }
        if exists("train.bin") || exists("test.bin") { return .cifar100(path: text) }
        // A folder holding train/ and test/ is a split source: without --split it means train,
        // as the CIFAR releases do (a class named "test" would otherwise swallow the test set).
        let isSplitFolder = exists("train") && exists("test")
        guard let split = split ?? (isSplitFolder ? .train : nil) else { return .imageFolder(path: text) }
        let splitPath = text + "/" + split.rawValue
        guard FileManager.default.fileExists(atPath: splitPath, isDirectory: &isFolder), isFolder.boolValue else {
            throw PrepareError.badSplit(path: text, split: split.rawValue)
        }
        return .imageFolder(path: splitPath)
    }
}

/// The files of an image folder, in the order they are packed.
struct FolderListing {
    /// Class names (sorted subfolder names), empty for a flat folder.
    var classNames: [String]
    /// Candidate files with their label (nil for a flat folder), sorted by class then name.
    var files: [(path: String, label: Int?)]
    /// Entries that are not candidates, with why.
    var skipped: [SkippedFile]

    /// Lists `path`. Hidden entries (starting with ".") are ignored. With any subfolder, the folder
    /// is labeled: files directly inside it are skipped, and a class folder with no files is an error.
    init(path: String) throws {
        let entries = try Self.entries(of: path)
        let folders = entries.filter { Self.isFolder($0, in: path) }
        skipped = []
        files = []
        if folders.isEmpty {
            classNames = []
            files = entries.map { (path + "/" + $0, nil) }
            guard !files.isEmpty else { throw PrepareError.noImages(path: path) }
            return
        }
        if let bad = folders.first(where: { $0.contains(where: \.isNewline) }) {
            throw PrepareError.classNameWithLineBreak(path: path + "/" + bad)
        }
        classNames = folders
        for name in entries where !folders.contains(name) {
            skipped.append(SkippedFile(path: path + "/" + name, reason: "not inside a class folder"))
        }
        for (label, folder) in folders.enumerated() {
            let classPath = path + "/" + folder
            var count = 0
            for name in try Self.entries(of: classPath) {
                if Self.isFolder(name, in: classPath) {
                    skipped.append(
                        SkippedFile(path: classPath + "/" + name, reason: "nested folder inside a class folder"))
                    continue
                }
                files.append((classPath + "/" + name, label))
                count += 1
            }
            guard count > 0 else { throw PrepareError.emptyClassFolder(path: classPath) }
        }
    }

    private static func entries(of path: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw PrepareError.sourceNotFound(path: path)
        }
    }

    private static func isFolder(_ name: String, in path: String) -> Bool {
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isFolder) && isFolder.boolValue
    }
}

/// The CIFAR binary releases: file names, record layout, class names.
struct CIFARRelease {
    var recordBytes: Int
    /// Records in each file as the authors publish the release: 10,000 in each CIFAR-10 batch,
    /// 50,000 and 10,000 in CIFAR-100's train.bin and test.bin.
    var recordsPerFile: Int
    /// Byte offset of the label used (CIFAR-100: the fine label, after the coarse one).
    var labelOffset: Int
    var files: [String]
    var classNames: [String]

    init(source: DatasetSource, split: DatasetSplit) {
        switch source {
        case .cifar10(let path):
            recordBytes = 3073
            recordsPerFile = 10000
            labelOffset = 0
            files = split == .train ? (1...5).map { "\(path)/data_batch_\($0).bin" } : ["\(path)/test_batch.bin"]
            classNames =
                Self.namesFile(path + "/batches.meta.txt", count: 10)
                ?? [
                    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
                ]
        case .cifar100(let path):
            recordBytes = 3074
            recordsPerFile = split == .train ? 50000 : 10000
            labelOffset = 1
            files = ["\(path)/\(split.rawValue).bin"]
            classNames = Self.namesFile(path + "/fine_label_names.txt", count: 100) ?? Self.cifar100Names
        default:
            preconditionFailure("CIFARRelease: not a CIFAR source")
        }
    }

    /// The names in a release's text file, one a line, if it holds exactly `count` of them.
    private static func namesFile(_ path: String, count: Int) -> [String]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        return names.count == count ? names : nil
    }

    static let cifar100Names = [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl",
        "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair",
        "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin",
        "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp",
        "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck",
        "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
        "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television",
        "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf",
        "woman", "worm",
    ]
}
