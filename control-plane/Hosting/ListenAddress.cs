using System.Globalization;
using System.Net;

namespace Orchestrator.ControlPlane.Hosting;

/// <summary>A <c>host:port</c> to listen on: an IP address (v4, or v6 in brackets), <c>localhost</c>, or <c>*</c> for every interface.</summary>
public sealed record ListenAddress(IPAddress Address, int Port)
{
    /// <exception cref="FormatException">The text is not host:port; the message says what to write instead.</exception>
    public static ListenAddress Parse(string text, string flag)
    {
        ArgumentNullException.ThrowIfNull(text);
        var value = text.Trim();
        if (value.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            value = value["http://".Length..].TrimEnd('/');
        }

        var colon = value.LastIndexOf(':');
        if (colon <= 0 || colon == value.Length - 1)
        {
            throw new FormatException($"{flag} \"{text}\" is not host:port; write for example {flag} 127.0.0.1:7070");
        }

        var host = value[..colon];
        var portText = value[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            throw new FormatException($"{flag} \"{text}\": \"{portText}\" is not a port; use a number from 0 (any free port) to 65535");
        }

        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        IPAddress address;
        if (host is "*" or "0.0.0.0")
        {
            address = IPAddress.Any;
        }
        else if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = IPAddress.Loopback;
        }
        else if (!IPAddress.TryParse(host, out address!))
        {
            throw new FormatException($"{flag} \"{text}\": \"{host}\" is not an IP address; listen on an address such as 127.0.0.1, 0.0.0.0 or [::1]");
        }

        return new ListenAddress(address, port);
    }

    public override string ToString() =>
        Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Address}]:{Port}" : $"{Address}:{Port}";
}
