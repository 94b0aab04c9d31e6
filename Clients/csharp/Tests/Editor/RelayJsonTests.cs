using System;
using System.Collections.Generic;
using System.Text;

namespace GameRelay.Tests
{
    /// <summary>The JSON reader and writer, the packet layout and AGGREGATE checks, without sockets.</summary>
    public static class RelayJsonTests
    {
        const string Specials = "{}[]\",:\\0e.-u";

        static object Parse(string text) { return RelayJson.Parse(Encoding.UTF8.GetBytes(text), 0, Encoding.UTF8.GetByteCount(text)); }

        static void Rejects(byte[] bytes, string what)
        {
            try
            {
                RelayJson.Parse(bytes, 0, bytes.Length);
            }
            catch (FormatException)
            {
                return;
            }
            throw new TestFailure("accepted " + what);
        }

        static void Rejects(string text) { Rejects(Encoding.UTF8.GetBytes(text), text.Length > 60 ? text.Substring(0, 60) + "…" : text); }

        /// <summary>A relay reply parses into the expected fields.</summary>
        public static void JsonParsesRelayReplies()
        {
            var reply = (Dictionary<string, object>)Parse(
                "{\"id\":7,\"ok\":true,\"protocol\":1.0,\"server\":\"gamerelay/0.1\",\"udp\":{\"port\":7400}," +
                "\"features\":[\"tls\",\"tick\"],\"tls\":false,\"x\":null,\"s\":\"a\\u00e9\\ud83d\\ude00\\n\\/\"} \r\n");
            TestSupport.Equal(7L, RelayJson.GetInteger(reply, "id").Value, "id");
            TestSupport.Equal(1L, RelayJson.GetInteger(reply, "protocol").Value, "1.0 is whole");
            TestSupport.Equal(7400L, RelayJson.GetInteger(RelayJson.GetObject(reply, "udp"), "port").Value, "nested");
            TestSupport.Equal(2, RelayJson.GetArray(reply, "features").Count, "array");
            TestSupport.Check(RelayJson.IsTrue(reply, "ok") && !RelayJson.IsTrue(reply, "tls"), "booleans");
            TestSupport.Equal("a\u00e9\U0001F600\n/", RelayJson.GetString(reply, "s"), "escapes and surrogate pairs");
            TestSupport.Check(reply.ContainsKey("x") && reply["x"] == null, "null");
            TestSupport.Check(RelayJson.GetInteger(reply, "server") == null, "a string is no integer");
            var fraction = (Dictionary<string, object>)Parse("{\"a\":1.5,\"b\":-0,\"c\":1e2,\"d\":9007199254740993}");
            TestSupport.Check(RelayJson.GetInteger(fraction, "a") == null, "1.5 is not whole");
            TestSupport.Equal(100L, RelayJson.GetInteger(fraction, "c").Value, "1e2");
        }

        /// <summary>Hostile input is refused with FormatException: deep nesting, bad UTF-8, huge numbers, bad syntax.</summary>
        public static void JsonRejectsHostileInput()
        {
            Rejects(new string('[', 100000) + new string(']', 100000));
            Rejects(new string('[', 65) + new string(']', 65));
            Parse(new string('[', 64) + new string(']', 64));
            var deepObject = new StringBuilder();
            for (int i = 0; i < 200000; i++) deepObject.Append("{\"a\":");
            Rejects(deepObject.ToString());
            Rejects(new byte[] { (byte)'"', 0xC3, 0x28, (byte)'"' }, "invalid UTF-8");
            Rejects(new byte[] { (byte)'"', 0xED, 0xA0, 0x80, (byte)'"' }, "UTF-8 encoded surrogate");
            Rejects(new byte[] { (byte)'"', 0xF8, 0x88, 0x80, 0x80, 0x80, (byte)'"' }, "5-byte UTF-8");
            Rejects(new byte[] { (byte)'"', 0xC0, 0xAF, (byte)'"' }, "overlong UTF-8");
            Rejects(new byte[] { 0xFF }, "0xFF");
            Rejects("\"\\ud800\"");
            Rejects("\"\\udc00\\ud800\"");
            Rejects("{\"a\":1,\"a\":2}");
            Rejects("[1,]");
            Rejects("{\"a\":1,}");
            Rejects("01");
            Rejects("-");
            Rejects("1.");
            Rejects("1e");
            Rejects(".5");
            Rejects("+1");
            Rejects("\"a\u0001b\"");
            Rejects("\"\\x\"");
            Rejects("\"\\u12\"");
            Rejects("tru");
            Rejects("nul");
            Rejects("{} {}");
            Rejects("");
            Rejects("   ");
            Rejects("{\"a\"}");
            Rejects("{1:2}");
            Rejects("\"unterminated");
            var huge = (Dictionary<string, object>)Parse("{\"big\":1e999999,\"small\":-1e999999,\"tiny\":1e-999999,\"long\":" + new string('9', 5000) + "}");
            TestSupport.Check(RelayJson.GetInteger(huge, "big") == null, "1e999999 is no integer");
            TestSupport.Check(RelayJson.GetInteger(huge, "long") == null, "a 5000-digit number is no integer");
            TestSupport.Equal(0L, RelayJson.GetInteger(huge, "tiny").Value, "1e-999999 rounds to 0");
        }

        /// <summary>Random mutations of a reply only ever parse or raise FormatException: never another exception.</summary>
        public static void JsonSurvivesMutations()
        {
            byte[] seed = Encoding.UTF8.GetBytes("{\"id\":12,\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":\"no such code \\u00e9\"},\"a\":[1,2.5e3,true,null,{}]}");
            var random = new Random(1234);
            for (int round = 0; round < 20000; round++)
            {
                byte[] bytes = (byte[])seed.Clone();
                int edits = 1 + random.Next(4);
                for (int e = 0; e < edits; e++)
                {
                    int at = random.Next(bytes.Length);
                    switch (random.Next(3))
                    {
                        case 0: bytes[at] = (byte)random.Next(256); break;
                        case 1: bytes[at] = (byte)Specials[random.Next(Specials.Length)]; break;
                        default: Array.Resize(ref bytes, at + 1); break;
                    }
                }
                try
                {
                    RelayJson.Parse(bytes, 0, bytes.Length);
                }
                catch (FormatException)
                {
                }
                catch (Exception e)
                {
                    throw new TestFailure("round " + round + " threw " + e.GetType().Name + ": " + e.Message);
                }
            }
        }

        /// <summary>The writer escapes every control character, so a name can't end a frame.</summary>
        public static void JsonWriterEscapesControlCharacters()
        {
            string name = "a\0b\nc\"d\\e\u001ff\u007f\u2028é😀";
            var output = new StringBuilder();
            RelayJson.WriteString(output, name);
            string written = output.ToString();
            foreach (char c in written) TestSupport.Check(c >= 0x20 && c != 0x7F, "raw control character U+" + ((int)c).ToString("X4"));
            TestSupport.Equal(name, (string)RelayJson.Parse(written), "round trip");
        }

        /// <summary>Header fields are big-endian at their offsets; AGGREGATEs must be filled exactly by their entries.</summary>
        public static void PacketLayout()
        {
            var buffer = new byte[40];
            RelayPacket.WriteHeader(buffer, 0, RelayPacket.TypeData, RelayPacket.FlagLatest, 0x01020304, 0x0506, 0xFFFF, 0x0A0B0C0D);
            var expected = new byte[] { 0x47, 1, 3, 1, 1, 2, 3, 4, 5, 6, 0xFF, 0xFF, 0x0A, 0x0B, 0x0C, 0x0D };
            for (int i = 0; i < 16; i++) TestSupport.Equal(expected[i], buffer[i], "header byte " + i);
            RelayPacket.WriteHeader(buffer, 0, RelayPacket.TypeAggregate, 0, 1, 0, 3, 9);
            // Two entries: member 2 seq 5 with 3 bytes, member 4 seq 6 with 0 bytes.
            RelayPacket.WriteUInt16(buffer, 16, 2); RelayPacket.WriteUInt32(buffer, 18, 5); RelayPacket.WriteUInt16(buffer, 22, 3);
            RelayPacket.WriteUInt16(buffer, 27, 4); RelayPacket.WriteUInt32(buffer, 29, 6); RelayPacket.WriteUInt16(buffer, 33, 0);
            TestSupport.Equal(2, RelayPacket.CountAggregateEntries(buffer, 0, 35), "two entries");
            TestSupport.Equal(-1, RelayPacket.CountAggregateEntries(buffer, 0, 34), "a cut entry header");
            TestSupport.Equal(-1, RelayPacket.CountAggregateEntries(buffer, 0, 25), "a cut payload");
            TestSupport.Equal(0, RelayPacket.CountAggregateEntries(buffer, 0, 16), "no entries");
            buffer[0] = 0x48;
            TestSupport.Equal(-1, RelayPacket.CountAggregateEntries(buffer, 0, 35), "bad magic");
        }
    
        /// <summary>The AGGREGATE check on random bytes never throws, and what it accepts its entries fill exactly.</summary>
        public static void AggregateReaderSurvivesRandomBytes()
        {
            var random = new Random(99);
            var buffer = new byte[1500];
            int accepted = 0;
            for (int round = 0; round < 50000; round++)
            {
                random.NextBytes(buffer);
                RelayPacket.WriteHeader(buffer, 0, RelayPacket.TypeAggregate, 0, 1, 0, 2, (uint)round);
                // A well-formed AGGREGATE of random entries, then (mostly) cut or with a length byte changed.
                int count = RelayPacket.HeaderSize;
                int planned = random.Next(6);
                for (int e = 0; e < planned; e++)
                {
                    int length = random.Next(200);
                    if (count + RelayPacket.EntryHeaderSize + length > buffer.Length) break;
                    RelayPacket.WriteUInt16(buffer, count + 6, (ushort)length);
                    count += RelayPacket.EntryHeaderSize + length;
                }
                switch (random.Next(3))
                {
                    case 0: break;
                    case 1: count = random.Next(count + 1); break;
                    default: buffer[RelayPacket.HeaderSize + random.Next(Math.Max(1, count - RelayPacket.HeaderSize))] = (byte)random.Next(256); break;
                }
                int entries = RelayPacket.CountAggregateEntries(buffer, 0, count);
                if (entries <= 0) continue;
                accepted++;
                int position = RelayPacket.HeaderSize, walked = 0;
                while (position < count)
                {
                    position += RelayPacket.EntryHeaderSize + RelayPacket.ReadUInt16(buffer, position + 6);
                    walked++;
                }
                TestSupport.Equal(count, position, "entries fill an accepted AGGREGATE exactly");
                TestSupport.Equal(entries, walked, "entry count");
            }
            TestSupport.Check(accepted > 0, "some AGGREGATEs with entries were accepted");
        }
}
}
