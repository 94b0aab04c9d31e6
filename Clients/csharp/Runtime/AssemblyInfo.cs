using System.Runtime.CompilerServices;

// The tests stand in a network change through RelayClient.LocalAddressProbe.
[assembly: InternalsVisibleTo("GameRelay.Tests.Editor")]
