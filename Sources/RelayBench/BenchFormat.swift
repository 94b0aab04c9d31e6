import Foundation

/// Number formatting shared by the text outputs: fixed decimals, `.` as the decimal
/// separator whatever the locale.
enum BenchFormat {
    /// `value` with exactly `digits` decimals.
    static func fixed(_ value: Double, digits: Int) -> String {
        String(format: "%.\(digits)f", locale: nil, value)
    }

    /// A latency in microseconds: two decimals below 100 µs, one from there on.
    static func micros(_ value: Double) -> String {
        fixed(value, digits: abs(value) < 100 ? 2 : 1)
    }

    /// A rate or limit: no decimals when integral, two otherwise.
    static func number(_ value: Double) -> String {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
            return String(Int64(value))
        }
        return fixed(value, digits: 2)
    }

    /// A percentage: three decimals below 1 %, two from there on.
    static func percent(_ value: Double) -> String {
        fixed(value, digits: abs(value) < 1 && value != 0 ? 3 : 2)
    }
}
