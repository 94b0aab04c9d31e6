using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace GameRelay
{
    /// <summary>
    /// The small JSON reader and writer the control channel needs (PROTOCOL.md §1.1), so the
    /// library depends on nothing outside the base class library.
    /// </summary>
    /// <remarks>
    /// Parsed values are <see cref="Dictionary{TKey,TValue}"/> of string to object for objects,
    /// <see cref="List{T}"/> of object for arrays, <see cref="string"/>, <see cref="double"/>,
    /// <see cref="bool"/>, and <c>null</c>. The reader is as strict as the relay's: RFC 8259
    /// syntax, valid UTF-8, nesting at most <see cref="MaxDepth"/>, no duplicate keys (I-JSON), so
    /// the client never reads a reply differently from how the relay wrote it.
    /// </remarks>
    public static class RelayJson
    {
        /// <summary>The deepest nesting the reader accepts; the top-level value is level 1.</summary>
        public const int MaxDepth = 64;

        static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        /// <summary>Parses one JSON text from UTF-8 bytes.</summary>
        /// <exception cref="FormatException">The bytes are not valid UTF-8 or not one valid JSON value.</exception>
        public static object Parse(byte[] bytes, int offset, int count)
        {
            if (bytes == null) throw new ArgumentNullException("bytes");
            string text;
            try
            {
                text = StrictUtf8.GetString(bytes, offset, count);
            }
            catch (ArgumentException)
            {
                // DecoderFallbackException is an ArgumentException: invalid UTF-8.
                throw new FormatException("invalid UTF-8");
            }
            return Parse(text);
        }

        /// <summary>Parses one JSON text.</summary>
        /// <exception cref="FormatException">The text is not one valid JSON value.</exception>
        public static object Parse(string text)
        {
            if (text == null) throw new ArgumentNullException("text");
            var reader = new Reader(text);
            reader.SkipWhitespace();
            object value = reader.ReadValue(1);
            reader.SkipWhitespace();
            if (reader.Position != text.Length) throw reader.Error("trailing characters");
            return value;
        }

        /// <summary>Parses one JSON text that must be an object.</summary>
        /// <exception cref="FormatException">The text is not valid JSON or not an object.</exception>
        public static Dictionary<string, object> ParseObject(byte[] bytes, int offset, int count)
        {
            var obj = Parse(bytes, offset, count) as Dictionary<string, object>;
            if (obj == null) throw new FormatException("JSON text is not an object");
            return obj;
        }

        /// <summary>A string field of <paramref name="obj"/>, or null when absent or of another type.</summary>
        public static string GetString(Dictionary<string, object> obj, string key)
        {
            object value;
            return obj != null && obj.TryGetValue(key, out value) ? value as string : null;
        }

        /// <summary>A whole-numbered field of <paramref name="obj"/> (<c>8</c> or <c>8.0</c>), or null.</summary>
        public static long? GetInteger(Dictionary<string, object> obj, string key)
        {
            object value;
            if (obj == null || !obj.TryGetValue(key, out value) || !(value is double)) return null;
            double number = (double)value;
            if (Math.Floor(number) != number || Math.Abs(number) > 9007199254740992.0) return null;
            return (long)number;
        }

        /// <summary>An object field of <paramref name="obj"/>, or null.</summary>
        public static Dictionary<string, object> GetObject(Dictionary<string, object> obj, string key)
        {
            object value;
            return obj != null && obj.TryGetValue(key, out value) ? value as Dictionary<string, object> : null;
        }

        /// <summary>An array field of <paramref name="obj"/>, or null.</summary>
        public static List<object> GetArray(Dictionary<string, object> obj, string key)
        {
            object value;
            return obj != null && obj.TryGetValue(key, out value) ? value as List<object> : null;
        }

        /// <summary>Whether <paramref name="obj"/> has <paramref name="key"/> set to JSON <c>true</c>.</summary>
        public static bool IsTrue(Dictionary<string, object> obj, string key)
        {
            object value;
            return obj != null && obj.TryGetValue(key, out value) && value is bool && (bool)value;
        }

        /// <summary>Appends <paramref name="value"/> as a JSON string, escaping every control character.</summary>
        public static void WriteString(StringBuilder output, string value)
        {
            output.Append('"');
            foreach (char c in value)
            {
                switch (c)
                {
                    case '"': output.Append("\\\""); break;
                    case '\\': output.Append("\\\\"); break;
                    case '\n': output.Append("\\n"); break;
                    case '\r': output.Append("\\r"); break;
                    case '\t': output.Append("\\t"); break;
                    default:
                        // Every control character escaped: a raw \0 or \n would end the frame.
                        if (c < 0x20 || c == 0x7F || c == '\u2028' || c == '\u2029')
                            output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else
                            output.Append(c);
                        break;
                }
            }
            output.Append('"');
        }

        sealed class Reader
        {
            readonly string text;
            public int Position;

            public Reader(string text) { this.text = text; }

            public FormatException Error(string what)
            {
                return new FormatException("invalid JSON at offset " + Position + ": " + what);
            }

            public void SkipWhitespace()
            {
                while (Position < text.Length)
                {
                    char c = text[Position];
                    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
                    Position++;
                }
            }

            // Recursion is bounded by MaxDepth, so hostile nesting can't exhaust the stack.
            public object ReadValue(int depth)
            {
                if (Position >= text.Length) throw Error("unexpected end");
                char c = text[Position];
                switch (c)
                {
                    case '{': return ReadObject(depth);
                    case '[': return ReadArray(depth);
                    case '"': return ReadString();
                    case 't': Expect("true"); return true;
                    case 'f': Expect("false"); return false;
                    case 'n': Expect("null"); return null;
                    default:
                        if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber();
                        throw Error("unexpected character");
                }
            }

            void Expect(string literal)
            {
                if (string.CompareOrdinal(text, Position, literal, 0, literal.Length) != 0) throw Error("bad literal");
                Position += literal.Length;
            }

            Dictionary<string, object> ReadObject(int depth)
            {
                if (depth > MaxDepth) throw Error("nesting deeper than " + MaxDepth);
                Position++;
                var result = new Dictionary<string, object>(StringComparer.Ordinal);
                SkipWhitespace();
                if (Position < text.Length && text[Position] == '}') { Position++; return result; }
                while (true)
                {
                    SkipWhitespace();
                    if (Position >= text.Length || text[Position] != '"') throw Error("expected a key");
                    string key = ReadString();
                    SkipWhitespace();
                    if (Position >= text.Length || text[Position] != ':') throw Error("expected ':'");
                    Position++;
                    SkipWhitespace();
                    object value = ReadValue(depth + 1);
                    if (result.ContainsKey(key)) throw Error("duplicate key");
                    result.Add(key, value);
                    SkipWhitespace();
                    if (Position >= text.Length) throw Error("unexpected end");
                    char c = text[Position++];
                    if (c == '}') return result;
                    if (c != ',') throw Error("expected ',' or '}'");
                }
            }

            List<object> ReadArray(int depth)
            {
                if (depth > MaxDepth) throw Error("nesting deeper than " + MaxDepth);
                Position++;
                var result = new List<object>();
                SkipWhitespace();
                if (Position < text.Length && text[Position] == ']') { Position++; return result; }
                while (true)
                {
                    SkipWhitespace();
                    result.Add(ReadValue(depth + 1));
                    SkipWhitespace();
                    if (Position >= text.Length) throw Error("unexpected end");
                    char c = text[Position++];
                    if (c == ']') return result;
                    if (c != ',') throw Error("expected ',' or ']'");
                }
            }

            string ReadString()
            {
                Position++;
                var output = new StringBuilder();
                while (true)
                {
                    if (Position >= text.Length) throw Error("unterminated string");
                    char c = text[Position++];
                    if (c == '"') return output.ToString();
                    if (c < 0x20) throw Error("raw control character in a string");
                    if (c != '\\') { output.Append(c); continue; }
                    if (Position >= text.Length) throw Error("unterminated escape");
                    char e = text[Position++];
                    switch (e)
                    {
                        case '"': output.Append('"'); break;
                        case '\\': output.Append('\\'); break;
                        case '/': output.Append('/'); break;
                        case 'b': output.Append('\b'); break;
                        case 'f': output.Append('\f'); break;
                        case 'n': output.Append('\n'); break;
                        case 'r': output.Append('\r'); break;
                        case 't': output.Append('\t'); break;
                        case 'u':
                            int unit = ReadHex4();
                            if (unit >= 0xD800 && unit <= 0xDBFF)
                            {
                                // A high surrogate must be followed by an escaped low one.
                                if (Position + 1 >= text.Length || text[Position] != '\\' || text[Position + 1] != 'u')
                                    throw Error("lone surrogate");
                                Position += 2;
                                int low = ReadHex4();
                                if (low < 0xDC00 || low > 0xDFFF) throw Error("lone surrogate");
                                output.Append((char)unit).Append((char)low);
                            }
                            else if (unit >= 0xDC00 && unit <= 0xDFFF)
                            {
                                throw Error("lone surrogate");
                            }
                            else
                            {
                                output.Append((char)unit);
                            }
                            break;
                        default: throw Error("bad escape");
                    }
                }
            }

            int ReadHex4()
            {
                if (Position + 4 > text.Length) throw Error("short \\u escape");
                int value = 0;
                for (int i = 0; i < 4; i++)
                {
                    char c = text[Position++];
                    int digit;
                    if (c >= '0' && c <= '9') digit = c - '0';
                    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
                    else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
                    else throw Error("bad \\u escape");
                    value = value * 16 + digit;
                }
                return value;
            }

            double ReadNumber()
            {
                int start = Position;
                if (text[Position] == '-') Position++;
                if (Position >= text.Length) throw Error("bad number");
                if (text[Position] == '0')
                {
                    Position++;
                }
                else if (text[Position] >= '1' && text[Position] <= '9')
                {
                    while (Position < text.Length && IsDigit(text[Position])) Position++;
                }
                else
                {
                    throw Error("bad number");
                }
                if (Position < text.Length && text[Position] == '.')
                {
                    Position++;
                    if (Position >= text.Length || !IsDigit(text[Position])) throw Error("bad fraction");
                    while (Position < text.Length && IsDigit(text[Position])) Position++;
                }
                if (Position < text.Length && (text[Position] == 'e' || text[Position] == 'E'))
                {
                    Position++;
                    if (Position < text.Length && (text[Position] == '+' || text[Position] == '-')) Position++;
                    if (Position >= text.Length || !IsDigit(text[Position])) throw Error("bad exponent");
                    while (Position < text.Length && IsDigit(text[Position])) Position++;
                }
                string literal = text.Substring(start, Position - start);
                double value;
                // The grammar is checked above; out-of-range magnitudes become infinities or zero,
                // which no field accepts as a whole number, rather than an exception.
                if (!double.TryParse(literal, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
                {
                    value = literal[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity;
                }
                return value;
            }

            static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
        }
    }
}
